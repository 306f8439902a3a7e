-- A token family (one sign-in's chain of rotations) as a row of its own, so revoking it is a
-- state that a rotation checks under the row's lock: a rotation running while the family is
-- revoked either finishes first (and its new token is revoked with the family) or sees the
-- revocation. Rows of refresh_tokens keep their revoked_at for the previous release.
CREATE TABLE token_families (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL CONSTRAINT token_families_user_fkey REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
CREATE INDEX token_families_user_idx ON token_families (user_id);
INSERT INTO token_families (id, user_id, created_at, revoked_at)
-- A family with any revoked token was revoked (a token minted by a racing rotation may not be).
SELECT family_id, min(user_id::text)::uuid, min(created_at),
       CASE WHEN bool_or(revoked_at IS NOT NULL) THEN max(revoked_at) END
FROM refresh_tokens GROUP BY family_id;
