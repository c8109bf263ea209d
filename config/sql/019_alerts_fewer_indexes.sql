-- Notifications (alerts actor) with one index fewer: each notification row
-- is written inside the time from an availability change to the user's
-- event, once per user holding the title. A user's list and counts
-- (GET /me/notifications) read the user's rows through the unique key,
-- whose first column is user_id, so the index on (user_id, created_at) only
-- saved sorting one user's notifications, which is small next to counting
-- them (the counts read them all anyway).
DROP INDEX notifications_user_idx;
