-- Sign-in attempts replace `login_failures` (issue 11). An attempt is written before its password
-- is checked, in the transaction that decides whether it may be made, so parallel attempts cannot
-- all slip under the limit; a successful sign-in deletes its own pair's rows. The throttle counts
-- per (account, client address) and per address: a stranger's failures never lock out the owner
-- signing in from elsewhere.
DROP TABLE login_failures;

CREATE TABLE login_attempts (
    id           INTEGER PRIMARY KEY,
    account      TEXT NOT NULL,
    client       TEXT NOT NULL,
    attempted_at TEXT NOT NULL CHECK (attempted_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z')
);
CREATE INDEX login_attempts_pair ON login_attempts (account, client, attempted_at);
CREATE INDEX login_attempts_client ON login_attempts (client, attempted_at);
-- Old rows are pruned as attempts come, by time.
CREATE INDEX login_attempts_time ON login_attempts (attempted_at);
