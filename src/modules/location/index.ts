export { Clock } from './clock';
export * from './location.events';
export { LocationModule } from './location.module';
export { LocationSessionsService } from './sessions/location-sessions.service';
