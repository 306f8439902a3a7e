-- Staff search. Names are matched by trigram indexes over `search_key(name)`: the name case-folded
-- (Latin, Latin-1, Cyrillic) and with Arabic letter variants folded and its diacritics dropped,
-- by explicit tables rather than lower(), whose result depends on the database's locale; then
-- each character written as 'x' and six hex digits of its code point. pg_trgm only splits words
-- on characters the locale calls alphanumeric (under LC_CTYPE=C no Arabic or Cyrillic letter
-- is), so an all-ASCII key makes the index work whatever the locale; the 'x' keeps a LIKE match
-- aligned on whole characters.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE FUNCTION search_key(name text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN (
    SELECT coalesce(string_agg('x' || lpad(to_hex(ascii(c)), 6, '0'), '' ORDER BY i), '')
    FROM unnest(regexp_split_to_array(
        translate(name,
            'ABCDEFGHIJKLMNOPQRSTUVWXYZÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝÞАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯأإآٱىـًٌٍَُِّْ',
            'abcdefghijklmnopqrstuvwxyzàáâãäåæçèéêëìíîïðñòóôõöøùúûüýþабвгдеёжзийклмнопрстуфхцчшщъыьэюяااااي'),
        '')) WITH ORDINALITY AS t(c, i)
);

CREATE INDEX users_citizen_name_search_idx ON users USING gin (search_key(full_name) gin_trgm_ops)
    WHERE role = 'citizen';
CREATE INDEX users_citizen_phone_idx ON users (phone) WHERE role = 'citizen' AND phone IS NOT NULL;
CREATE INDEX appointments_applicant_search_idx ON appointments USING gin (search_key(applicant_name) gin_trgm_ops);
-- Identity numbers of every status (the existing passport index holds future bookings only).
-- A further identity column gets its own index here and one more branch in the search query.
CREATE INDEX appointments_passport_number_idx ON appointments (passport_number)
    WHERE passport_number IS NOT NULL;
CREATE INDEX document_requests_applicant_search_idx ON document_requests
    USING gin (search_key(applicant_full_name) gin_trgm_ops);
CREATE INDEX document_requests_passport_idx ON document_requests (applicant_passport)
    WHERE applicant_passport IS NOT NULL;
