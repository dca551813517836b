export { type DeliveryResult, OutboundHttp, SIGNATURE_HEADER, signBody } from './outbound-http';
export { OutboundModule } from './outbound.module';
