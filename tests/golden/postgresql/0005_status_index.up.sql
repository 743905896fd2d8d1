CREATE INDEX CONCURRENTLY ix_orders_status ON orders (status);
