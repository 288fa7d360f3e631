-- 30,000 notes.
INSERT INTO notes_note (title, body, tags, created)
SELECT 'note ' || i,
       repeat(md5(i::text) || ' ', 8),
       (ARRAY['work', 'home', 'ideas', 'reading', 'travel'])[1 + i % 5],
       now() - (i || ' minutes')::interval
FROM generate_series(1, 30000) AS i;
ANALYZE;
