PRAGMA writable_schema = ON;
UPDATE sqlite_master SET sql = substr(sql, 1, 143) || substr(sql, 262) WHERE type = 'table' AND name = 'orders';
PRAGMA schema_version = <the current schema_version + 1>;
PRAGMA writable_schema = OFF;
