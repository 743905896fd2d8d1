"""Everything that differs between SQLite, PostgreSQL and MariaDB/MySQL, one class per database."""
