// placeholder: pg_cluster being written
