"""The read models, one module each: tables, handlers, and the SQL queries that read them."""
