/** `GET /dashboard`: the live dashboard's built page and assets, served from memory. */
export { DASHBOARD_ASSETS_DIR } from './dashboard-assets.service';
export { DashboardModule } from './dashboard.module';
