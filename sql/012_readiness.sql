-- /readyz checks that every migration file is applied, as the application role.
GRANT SELECT ON schema_migrations TO grantledger_app;
