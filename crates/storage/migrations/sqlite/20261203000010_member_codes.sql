-- One-time codes sent to members' mobiles (to sign in, or to spend points at a till): one
-- live code per mobile, kept as the SHA-256 of mobile and code, with its expiry and the
-- wrong tries so far.
CREATE TABLE member_codes (
    mobile        TEXT PRIMARY KEY,
    code_hash     TEXT NOT NULL,
    sent_at_us    BIGINT NOT NULL,
    expires_at_us BIGINT NOT NULL,
    tries         BIGINT NOT NULL DEFAULT 0
);
