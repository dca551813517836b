import type { EntitySchema, MixedList } from 'typeorm';

// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
type EntityClass = Function | EntitySchema;

const registered = new Set<EntityClass>();

/**
 * Entities of tenant tables, known to every tenant pool. Modules register theirs through
 * `TenancyModule.forFeature([...])`, evaluated when their module is declared (before any pool opens).
 */
export function registerTenantEntities(entities: EntityClass[]): void {
  for (const entity of entities) registered.add(entity);
}

export function tenantEntities(): MixedList<EntityClass> {
  return [...registered];
}
