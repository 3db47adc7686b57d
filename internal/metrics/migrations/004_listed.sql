-- Tenants the source no longer lists. A run sets removed_at on every known
-- tenant its listing lacks, and clears it when the tenant is listed again.
-- "Now" figures count listed tenants only; a removed tenant's history stays.
-- A renamed file is the old id removed and the new id listed, so it never
-- counts twice. Statements end with ';' at the end of a line.
ALTER TABLE tenants ADD COLUMN removed_at TEXT;

CREATE VIEW listed_tenants AS SELECT * FROM tenants WHERE removed_at IS NULL;
