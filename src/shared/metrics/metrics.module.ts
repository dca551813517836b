import { Global, Module } from '@nestjs/common';
import { PrometheusModule } from '@willsoto/nestjs-prometheus';
import { HttpMetrics } from './http-metrics';
import { MetricsAccess } from './metrics-access';
import { MetricsController } from './metrics.controller';
import { MetricsServer } from './metrics-server';

/** Global: PrometheusModule's own scope builds the controller, which needs MetricsAccess. */
@Global()
@Module({
  imports: [PrometheusModule.register({ path: '/metrics', controller: MetricsController })],
  providers: [HttpMetrics, MetricsAccess, MetricsServer],
  exports: [MetricsAccess, MetricsServer],
})
export class MetricsModule {}
