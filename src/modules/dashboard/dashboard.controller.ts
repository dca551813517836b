import { Controller, Get, Param, Req, Res } from '@nestjs/common';
import {
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiProduces,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Public } from '../../shared/auth';
import { type DashboardAsset, DashboardAssets } from './dashboard-assets.service';
import { dashboardError } from './dashboard.errors';

/** The page itself holds no data: it signs in from the browser and calls the API like any client. */
@ApiTags('dashboard')
@Controller('dashboard')
export class DashboardController {
  constructor(private readonly assets: DashboardAssets) {}

  @Get()
  @Public()
  @ApiOperation({ summary: 'The live dashboard page (static HTML; it signs in from the browser)' })
  @ApiProduces('text/html')
  @ApiOkResponse({ description: 'The page', schema: { type: 'string' } })
  @ApiServiceUnavailableResponse({ description: 'The dashboard was not built (npm run build)' })
  page(@Req() request: FastifyRequest, @Res() reply: FastifyReply): void {
    const page = this.assets.page();
    if (!page)
      throw dashboardError('DASHBOARD.NOT_BUILT', 'The dashboard was not built: run npm run build');
    send(request, reply, page, 'no-cache');
  }

  @Get('assets/:file')
  @Public()
  @ApiOperation({ summary: "The dashboard's scripts and styles (content-hashed names)" })
  @ApiParam({ name: 'file', description: 'A file name from the built page' })
  @ApiProduces('text/javascript', 'text/css')
  @ApiOkResponse({ description: 'The file', schema: { type: 'string' } })
  @ApiNotFoundResponse({ description: 'No such file in the build' })
  file(
    @Param('file') name: string,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): void {
    const asset = this.assets.file(name);
    if (!asset) throw dashboardError('DASHBOARD.ASSET_NOT_FOUND', 'No such dashboard file');
    // Names carry a content hash: a new build has new names, so an asset never changes.
    send(request, reply, asset, 'public, max-age=31536000, immutable');
  }
}

function send(
  request: FastifyRequest,
  reply: FastifyReply,
  asset: DashboardAsset,
  cacheControl: string,
): void {
  void reply
    .header('etag', asset.etag)
    .header('cache-control', cacheControl)
    .type(asset.contentType);
  if (request.headers['if-none-match'] === asset.etag) {
    void reply.status(304).send();
    return;
  }
  void reply.send(asset.body);
}
