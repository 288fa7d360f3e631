-- The notes site's table (Django's model is unmanaged: the lab creates it here).
CREATE TABLE notes_note (
    id       serial PRIMARY KEY,
    title    text NOT NULL,
    body     text NOT NULL,
    tags     text NOT NULL,
    created  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notes_note_created ON notes_note (created);
GRANT SELECT, INSERT ON notes_note TO app;
GRANT USAGE ON SEQUENCE notes_note_id_seq TO app;
