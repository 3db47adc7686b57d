-- How long a run took, in milliseconds: started_at and finished_at keep
-- whole seconds, so a 1.5 s run read as 1 s on the pages and 1.5 s in the
-- CLI. Both now show this one figure. NULL for runs before it existed.
ALTER TABLE runs ADD COLUMN elapsed_ms INTEGER;
