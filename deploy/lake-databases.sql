-- The lake's two catalogs, beside the Dagster instance's database (DuckLake creates its tables on first attach).
CREATE DATABASE dwc_lake;
CREATE DATABASE dwc_analyst;
-- The /api/v3 service's store (users, API keys, audit): `dwc api migrate` creates its tables.
CREATE DATABASE dwc_api;
