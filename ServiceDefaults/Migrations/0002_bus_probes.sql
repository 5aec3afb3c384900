CREATE TABLE IF NOT EXISTS bus_probes (
    probe_id uuid        PRIMARY KEY,
    origin   text        NOT NULL,
    sent_at  timestamptz NOT NULL
);

-- Deliberately no unique key on probe_id: a second row would be a duplicate side effect, which the inbox must prevent.
CREATE TABLE IF NOT EXISTS bus_probe_receipts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    probe_id    uuid        NOT NULL,
    origin      text        NOT NULL,
    received_at timestamptz NOT NULL,
    trace_id    text        NULL
);
CREATE INDEX IF NOT EXISTS bus_probe_receipts_probe ON bus_probe_receipts (probe_id);
