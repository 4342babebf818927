-- The earliest enrolment date of any member (erased ones included: their purchases stay in
-- the program's summaries), NULL before the first enrolment.
SELECT min(enrolled_date) AS first_enrolled_date
FROM members
WHERE enrolled_at <= :as_of_time
