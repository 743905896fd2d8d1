ALTER TABLE orders VALIDATE CONSTRAINT ck_orders_status;
