/** Platform migrations, in order. Listed explicitly: no globs. */
export const platformMigrations = [];
