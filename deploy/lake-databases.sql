-- The lake's two catalogs, beside the Dagster instance's database (DuckLake creates its tables on first attach).
CREATE DATABASE dwc_lake;
CREATE DATABASE dwc_analyst;
