-- Tessera: roles and databases for local development and tests.
--
-- Plain psql, idempotent (safe to run on every start). Used by:
--   * scripts/services.sh up   (su postgres -c "psql -v ON_ERROR_STOP=1 -d postgres" < this file)
--   * docker-compose.yml       (mounted into /docker-entrypoint-initdb.d/, first start only)
--
-- LOCAL / DEV ONLY: the passwords below are public.
--   postgres       superuser; tests use it over TCP for admin work (ALTER ROLE ... PASSWORD, CREATE DATABASE)
--   tessera_owner  owns the schemas and tables, runs the migrations
--   tessera_app    the runtime role: owns nothing, cannot bypass row-level security
\set ON_ERROR_STOP on

ALTER ROLE postgres PASSWORD 'postgres';

-- roles -----------------------------------------------------------------------------------------
SELECT 'CREATE ROLE tessera_owner'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tessera_owner') \gexec
ALTER ROLE tessera_owner WITH LOGIN PASSWORD 'tessera_owner'
  NOSUPERUSER NOBYPASSRLS CREATEDB NOCREATEROLE NOREPLICATION;

SELECT 'CREATE ROLE tessera_app'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tessera_app') \gexec
ALTER ROLE tessera_app WITH LOGIN PASSWORD 'tessera_app'
  NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION;

-- databases: platform (tessera, tessera_test) and the default tenant cluster ---------------------
SELECT format('CREATE DATABASE %I OWNER tessera_owner', d)
  FROM unnest(ARRAY['tessera', 'tessera_test', 'tessera_tenants', 'tessera_tenants_test']) AS d
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = d) \gexec
SELECT format('ALTER DATABASE %I OWNER TO tessera_owner', datname)
  FROM pg_database
 WHERE datname IN ('tessera', 'tessera_test', 'tessera_tenants', 'tessera_tenants_test')
   AND datdba <> 'tessera_owner'::regrole \gexec

-- grants, in each database ----------------------------------------------------------------------
\c tessera
GRANT CONNECT ON DATABASE tessera TO tessera_app;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO tessera_app;
ALTER DEFAULT PRIVILEGES FOR ROLE tessera_owner IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO tessera_app;
ALTER DEFAULT PRIVILEGES FOR ROLE tessera_owner IN SCHEMA public
  GRANT USAGE, SELECT ON SEQUENCES TO tessera_app;

\c tessera_test
GRANT CONNECT ON DATABASE tessera_test TO tessera_app;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO tessera_app;
ALTER DEFAULT PRIVILEGES FOR ROLE tessera_owner IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO tessera_app;
ALTER DEFAULT PRIVILEGES FOR ROLE tessera_owner IN SCHEMA public
  GRANT USAGE, SELECT ON SEQUENCES TO tessera_app;

\c tessera_tenants
GRANT CONNECT ON DATABASE tessera_tenants TO tessera_app;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO tessera_app;
ALTER DEFAULT PRIVILEGES FOR ROLE tessera_owner IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO tessera_app;
ALTER DEFAULT PRIVILEGES FOR ROLE tessera_owner IN SCHEMA public
  GRANT USAGE, SELECT ON SEQUENCES TO tessera_app;

\c tessera_tenants_test
GRANT CONNECT ON DATABASE tessera_tenants_test TO tessera_app;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO tessera_app;
ALTER DEFAULT PRIVILEGES FOR ROLE tessera_owner IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO tessera_app;
ALTER DEFAULT PRIVILEGES FOR ROLE tessera_owner IN SCHEMA public
  GRANT USAGE, SELECT ON SEQUENCES TO tessera_app;

\c postgres
