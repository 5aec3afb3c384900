-- Each replica's measurements of the new variants of a deployment in progress (the built-in alarms' windows), written
-- with every alarm evaluation: the alarms judge the fleet's sum over live replicas, not one replica's share of the traffic.
CREATE TABLE IF NOT EXISTS variant_windows (
    endpoint       text        NOT NULL,
    config_version integer     NOT NULL,
    variant        text        NOT NULL,
    replica_id     text        NOT NULL,
    window_seconds integer     NOT NULL,
    requests       bigint      NOT NULL,
    errors         bigint      NOT NULL,
    latency        bigint[]    NOT NULL,   -- VariantWindow's histogram of successful requests
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (endpoint, config_version, variant, replica_id)
);
