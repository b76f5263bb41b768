-- Sessions end when their user's password changes or the user is disabled (issue 11). A session
-- remembers the `session_epoch` its user had when it signed in; a password change or a disable
-- adds one, and a session of another epoch is signed out at its next request. A disabled user
-- (`disabled_at` set) cannot sign in. (API tokens are the clinic's, not their creator's: they
-- stay valid until revoked.)
ALTER TABLE users ADD COLUMN session_epoch INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN disabled_at TEXT CHECK (disabled_at IS NULL OR disabled_at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z');
