-- Tables of the hotspare demo site (applied by the lab as role "site" in db "site").
CREATE TABLE IF NOT EXISTS notes (
    id bigserial PRIMARY KEY,
    body text NOT NULL,
    node text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS sweep_runs (
    id bigserial PRIMARY KEY,
    node text NOT NULL,
    ran_at timestamptz NOT NULL DEFAULT now()
);
