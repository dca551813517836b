import { Module } from '@nestjs/common';
import {
  DASHBOARD_ASSETS_DIR,
  DashboardAssets,
  defaultDashboardDir,
} from './dashboard-assets.service';
import { DashboardController } from './dashboard.controller';

@Module({
  controllers: [DashboardController],
  providers: [{ provide: DASHBOARD_ASSETS_DIR, useFactory: defaultDashboardDir }, DashboardAssets],
})
export class DashboardModule {}
