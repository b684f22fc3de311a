-- Objects whose django-hitcount total has been added by `hitcount
-- import-django`, so that importing again adds nothing twice.
CREATE TABLE hitcount_imported_total (
    hit_count_id BIGINT PRIMARY KEY
);
