-- Offers stored under Streaming Availability's own service ids ("plutotv",
-- "apple") instead of the canonical slugs GET /api/v1/platforms lists: the
-- resolver now maps them (a subscription on "apple" is Apple TV+, a rental or
-- purchase the Apple TV store); this moves the stored ones. An offer already
-- present under the canonical slug wins.
DELETE FROM availability a USING availability b
 WHERE a.platform = 'plutotv' AND b.platform = 'pluto-tv'
   AND b.content_id = a.content_id AND b.region = a.region AND b.type = a.type;
UPDATE availability SET platform = 'pluto-tv' WHERE platform = 'plutotv';
DELETE FROM availability a USING availability b
 WHERE a.platform = 'apple'
   AND b.platform = CASE WHEN a.type = 'subscription' THEN 'apple-tv-plus' ELSE 'apple-tv' END
   AND b.content_id = a.content_id AND b.region = a.region AND b.type = a.type;
UPDATE availability SET platform = CASE WHEN type = 'subscription' THEN 'apple-tv-plus' ELSE 'apple-tv' END
 WHERE platform = 'apple';
