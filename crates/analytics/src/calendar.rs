//! Civil-date arithmetic on day numbers (days since 1970-01-01, proleptic
//! Gregorian), so the library can bucket transactions into days, weeks and months
//! without a date crate.

/// Day number of a civil date (days since 1970-01-01; negative before).
/// Howard Hinnant's `days_from_civil`; valid for every `i32` year the callers use.
pub fn days_from_civil(year: i32, month: u32, day: u32) -> i32 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let m = month as i32;
    let day_of_year = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i32 - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Civil date `(year, month, day)` of a day number; inverse of [`days_from_civil`].
pub fn civil_from_days(days: i32) -> (i32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i32::from(month <= 2);
    (year, month, day)
}

/// Whether `(year, month, day)` names a real calendar date.
pub fn is_valid_date(year: i32, month: u32, day: u32) -> bool {
    if !(1..=12).contains(&month) || day == 0 {
        return false;
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    day <= days_in_month
}

/// Month ordinal `year × 12 + month − 1` of a day number, for monthly buckets.
pub fn month_index(days: i32) -> i32 {
    let (year, month, _) = civil_from_days(days);
    year * 12 + month as i32 - 1
}

/// Index of the Monday-to-Sunday week containing a day number (pandas' `W`,
/// i.e. weeks ending on Sunday). 1970-01-01 was a Thursday.
pub fn week_index(days: i32) -> i32 {
    (days + 3).div_euclid(7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates_round_trip() {
        let cases = [
            ((1970, 1, 1), 0),
            ((1997, 1, 1), 9_862),
            ((1997, 9, 30), 10_134),
            ((2000, 2, 29), 11_016),
            ((1969, 12, 31), -1),
        ];
        for ((y, m, d), want) in cases {
            assert_eq!(days_from_civil(y, m, d), want, "{y}-{m}-{d}");
            assert_eq!(civil_from_days(want), (y, m, d));
        }
        assert!(is_valid_date(2000, 2, 29) && !is_valid_date(1900, 2, 29));
    }

    #[test]
    fn weeks_start_on_monday_and_months_are_calendar_months() {
        // 1997-09-28 was a Sunday, 1997-09-29 a Monday.
        let sunday = days_from_civil(1997, 9, 28);
        assert_eq!(week_index(sunday), week_index(sunday - 6));
        assert_eq!(week_index(sunday + 1), week_index(sunday) + 1);
        assert_eq!(
            month_index(days_from_civil(1998, 1, 31)) - month_index(days_from_civil(1997, 12, 1)),
            1
        );
    }
}
