-- Referrals whose facts changed since they were last derived (issue 7). The hot path stores
-- facts and appends a mark per referral here in one transaction; the derivation step claims
-- the oldest marks, folds each referral once however many events it received meanwhile, and
-- deletes the marks it saw in the transaction that moves the aggregates. Append-only, so the
-- hot path never waits for a derivation pass. ``marked`` orders the work and tells readers
-- what is reflected (services.progress).
CREATE SEQUENCE pending_referrals_marked;
CREATE TABLE pending_referrals (
    marked         bigint PRIMARY KEY DEFAULT nextval('pending_referrals_marked'),
    provider_code  text   NOT NULL,
    referral_id    text   NOT NULL
);
CREATE INDEX pending_referrals_by_referral ON pending_referrals (provider_code, referral_id);
