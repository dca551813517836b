import { Controller, Get, Req, Res } from '@nestjs/common';
import {
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { PrometheusController } from '@willsoto/nestjs-prometheus';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Public } from '../auth';
import { MetricsAccess } from './metrics-access';

@ApiTags('metrics')
@Controller()
export class MetricsController extends PrometheusController {
  constructor(private readonly access: MetricsAccess) {
    super();
  }

  // Public to the user guards: MetricsAccess decides (a port of its own, a bearer token, or neither).
  @Public()
  @Get()
  @ApiOperation({
    summary: 'Prometheus metrics (text exposition format)',
    description:
      'With METRICS_TOKEN set, requires `Authorization: Bearer <token>`; with METRICS_PORT set, served on that port only (404 here); with neither, open outside production and 404 in production.',
  })
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: 'Process, HTTP and module metrics', schema: { type: 'string' } })
  @ApiUnauthorizedResponse({ description: 'METRICS_TOKEN is set and the bearer token is not it' })
  @ApiNotFoundResponse({ description: 'Served on METRICS_PORT, or not at all in production' })
  override index(
    @Res({ passthrough: true }) response: FastifyReply,
    @Req() request?: FastifyRequest,
  ): Promise<string> {
    const refusal = this.access.refusal('main', request?.headers.authorization);
    if (refusal) return Promise.reject(refusal);
    return super.index(response);
  }
}
