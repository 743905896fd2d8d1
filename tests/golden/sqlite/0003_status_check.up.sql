-- must return 0: every existing row satisfies status IN ('pending', 'paid', 'shipped', 'delivered', 'cancelled', 'refunded')
SELECT count(*) FROM orders WHERE NOT (status IN ('pending', 'paid', 'shipped', 'delivered', 'cancelled', 'refunded'));
PRAGMA writable_schema = ON;
UPDATE sqlite_master SET sql = substr(sql, 1, 143) || ', CONSTRAINT "ck_orders_status" CHECK (status IN (''pending'', ''paid'', ''shipped'', ''delivered'', ''cancelled'', ''refunded''))' || substr(sql, 144) WHERE type = 'table' AND name = 'orders';
PRAGMA schema_version = <the current schema_version + 1>;
PRAGMA writable_schema = OFF;
