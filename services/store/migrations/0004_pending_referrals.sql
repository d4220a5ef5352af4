-- Referrals whose facts changed since they were last derived (issue 7). The hot path stores
-- facts and marks their referrals here in one transaction; the derivation step claims the
-- oldest marks, folds each referral once however many events it received meanwhile, and
-- deletes the marks in the transaction that moves the aggregates. ``marked`` orders the work
-- and tells readers what is reflected (services.progress).
CREATE SEQUENCE pending_referrals_marked;
CREATE TABLE pending_referrals (
    provider_code  text   NOT NULL,
    referral_id    text   NOT NULL,
    marked         bigint NOT NULL DEFAULT nextval('pending_referrals_marked'),
    PRIMARY KEY (provider_code, referral_id)
);
CREATE INDEX pending_referrals_by_mark ON pending_referrals (marked);
