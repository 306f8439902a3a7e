-- Staff search, compact keys. The first key wrote every character as 'x' and six hex digits, so
-- its trigrams were the same few ("x00", "000", "006") in every name: the trigram index could
-- not tell names apart and a search read most of the table (p99 682 ms at 140,000 citizens).
--
-- The folding is unchanged (explicit tables, not lower(), whose result depends on the locale).
-- The key stays ASCII, because pg_trgm takes only the characters the database's LC_CTYPE calls
-- alphanumeric as word characters (under C, no Arabic or Cyrillic letter is), but now every
-- character says who it is in few characters:
--   * a-z, 0-9 and the space stand for themselves: Latin names and digits give real trigrams,
--     and the space still separates words (the word-start rank looks for '% ' || key);
--   * each other folded letter of the table below (Latin-1, Cyrillic, Arabic, Persian) is two
--     characters: a tag T-Y naming its block of 19 and a value A-S within it;
--   * any other character is Z and its code point in five base-19 digits A-S.
-- Code starts (a-z, 0-9, space, T-Z) and values (A-S) are disjoint and LIKE is case-sensitive, so
-- the key of a fragment can only match another key on whole characters. pg_trgm lower-cases its
-- trigrams, which only merges a few of them in the index; the LIKE recheck stays exact.
DROP INDEX users_citizen_name_key_idx;
DROP INDEX appointments_applicant_name_key_idx;
DROP INDEX document_requests_applicant_name_key_idx;
ALTER TABLE users DROP COLUMN full_name_key;
ALTER TABLE appointments DROP COLUMN applicant_name_key;
ALTER TABLE document_requests DROP COLUMN applicant_full_name_key;

CREATE OR REPLACE FUNCTION search_key(name text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN (
    SELECT coalesce(string_agg(
        CASE
            WHEN strpos('abcdefghijklmnopqrstuvwxyz0123456789 ', c) > 0 THEN c
            WHEN k > 0 THEN chr(84 + (k - 1) / 19) || chr(65 + (k - 1) % 19)
            ELSE 'Z' || chr(65 + p / 130321 % 19) || chr(65 + p / 6859 % 19)
                     || chr(65 + p / 361 % 19) || chr(65 + p / 19 % 19) || chr(65 + p % 19)
        END, '' ORDER BY i), '')
    FROM unnest(regexp_split_to_array(
        translate(name,
            'ABCDEFGHIJKLMNOPQRSTUVWXYZÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝÞАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯأإآٱىـًٌٍَُِّْ',
            'abcdefghijklmnopqrstuvwxyzàáâãäåæçèéêëìíîïðñòóôõöøùúûüýþабвгдеёжзийклмнопрстуфхцчшщъыьэюяااااي'),
        '')) WITH ORDINALITY AS t(c, i),
    LATERAL (SELECT ascii(c) AS p,
                    strpos('àáâãäåæçèéêëìíîïðñòóôõöøùúûüýþßÿ' || 'абвгдеёжзийклмнопрстуфхцчшщъыьэюя'
                           || 'ءؤئابةتثجحخدذرزسشصضطظعغفقكلمنهوي' || 'پچژگکی', c) AS k) AS code
);

-- Keys compare bytewise (COLLATE "C"), whatever the database's collation: a name starting with
-- the fragment is then the btree range [key, key || '~') ('~' sorts after every key character),
-- exact, where the trigram index would recheck every name holding the fragment's trigrams.
ALTER TABLE users ADD COLUMN full_name_key text COLLATE "C" NOT NULL
    GENERATED ALWAYS AS (search_key(full_name)) STORED;
ALTER TABLE appointments ADD COLUMN applicant_name_key text COLLATE "C" NOT NULL
    GENERATED ALWAYS AS (search_key(applicant_name)) STORED;
ALTER TABLE document_requests ADD COLUMN applicant_full_name_key text COLLATE "C" NOT NULL
    GENERATED ALWAYS AS (search_key(applicant_full_name)) STORED;
CREATE INDEX users_citizen_name_key_idx ON users USING gin (full_name_key gin_trgm_ops)
    WHERE role = 'citizen';
CREATE INDEX appointments_applicant_name_key_idx ON appointments USING gin (applicant_name_key gin_trgm_ops);
CREATE INDEX document_requests_applicant_name_key_idx ON document_requests
    USING gin (applicant_full_name_key gin_trgm_ops);
CREATE INDEX users_citizen_name_key_prefix_idx ON users (full_name_key) WHERE role = 'citizen';
CREATE INDEX appointments_applicant_name_key_prefix_idx ON appointments (applicant_name_key);
CREATE INDEX document_requests_applicant_name_key_prefix_idx ON document_requests (applicant_full_name_key);

-- Identity numbers searched exactly: a citizen's own on the profile, and the national number a
-- booking (and the request made at its check-in) was made under.
CREATE INDEX users_citizen_passport_idx ON users (passport_number)
    WHERE role = 'citizen' AND passport_number IS NOT NULL;
CREATE INDEX users_citizen_national_idx ON users (national_number)
    WHERE role = 'citizen' AND national_number IS NOT NULL;
CREATE INDEX appointments_national_number_idx ON appointments (national_number)
    WHERE national_number IS NOT NULL;
