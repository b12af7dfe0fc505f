//! Starting points for Taiwan and Hong Kong desks: usual weekly hours and the 2026 public
//! holidays as editable [`Exception`] lists. A shop copies them into its own
//! [`super::CalendarSpec`] and edits from there (its own closing days, typhoon closures).
//!
//! Sources (helpdesk.md has no holiday data, so these are ours; check each year):
//! - Taiwan: 行政院人事行政總處「中華民國115年(西元2026年)政府行政機關辦公日曆表」
//!   (行政院 114-06-13 院授人培字第1143024631號函 修正補假要點), as relayed by 彰化縣政府
//!   (gsps.chc.edu.tw/index.php/posts/1041): 120 days off, holidays on a Saturday move to the
//!   Friday before and on a Sunday to the Monday after, and **no 補班 make-up workday in 2026**.
//!   Weekends are already closed by the weekly frames, so only weekday closures are listed.
//! - Hong Kong: the General Holidays Ordinance (Cap. 149) rules applied to 2026 (a holiday on a
//!   Sunday moves to the next day that is not itself a holiday). Saturday holidays are listed
//!   because many HK shops open Saturdays.
//! - Both lists were cross-checked on 2026-12-07 against the `holidays` Python package 0.109
//!   (`country_holidays("TW"/"HK", years=2026)`, public category): the same closed weekdays,
//!   and Hong Kong's same general holidays (4/6 and 4/7 are both owed: Easter Monday and the
//!   Sunday Ching Ming's substitute).

use super::{Exception, Frame};
use jiff::civil::{Date, date};

fn holidays(entries: &[(Date, &str)]) -> Vec<Exception> {
    entries
        .iter()
        .map(|(day, label)| Exception::holiday(*day, *label))
        .collect()
}

/// Taiwan office hours Monday to Friday, 09:00–12:00 and 13:00–18:00 (lunch break closed).
pub fn taiwan_weekly() -> [Vec<Frame>; 7] {
    let frames = [
        Frame {
            start: 9 * 60,
            end: 12 * 60,
        },
        Frame {
            start: 13 * 60,
            end: 18 * 60,
        },
    ];
    let mut weekly: [Vec<Frame>; 7] = Default::default();
    for day in weekly.iter_mut().take(5) {
        *day = frames.to_vec();
    }
    weekly
}

/// Hong Kong office hours Monday to Friday 09:00–18:00 and Saturday 09:00–13:00.
pub fn hong_kong_weekly() -> [Vec<Frame>; 7] {
    let weekday = Frame {
        start: 9 * 60,
        end: 18 * 60,
    };
    let saturday = Frame {
        start: 9 * 60,
        end: 13 * 60,
    };
    let mut weekly: [Vec<Frame>; 7] = Default::default();
    for day in weekly.iter_mut().take(5) {
        *day = vec![weekday];
    }
    weekly[5] = vec![saturday];
    weekly
}

/// Taiwan 2026 weekday closures (national holidays and their 補假 substitute days).
/// 2026 has no 補班; add one with [`Exception::make_up_workday`] if a later year needs it.
pub fn taiwan_2026() -> Vec<Exception> {
    holidays(&[
        (date(2026, 1, 1), "開國紀念日 New Year's Day"),
        (date(2026, 2, 16), "除夕 Lunar New Year's Eve"),
        (date(2026, 2, 17), "春節 Lunar New Year"),
        (date(2026, 2, 18), "春節 Lunar New Year"),
        (date(2026, 2, 19), "春節 Lunar New Year"),
        (date(2026, 2, 20), "補假 除夕前一日 (Sun 2/15)"),
        (date(2026, 2, 27), "補假 和平紀念日 (Sat 2/28)"),
        (date(2026, 4, 3), "補假 兒童節 (Sat 4/4)"),
        (date(2026, 4, 6), "補假 清明節 (Sun 4/5)"),
        (date(2026, 5, 1), "勞動節 Labour Day"),
        (date(2026, 6, 19), "端午節 Dragon Boat Festival"),
        (date(2026, 9, 25), "中秋節 Mid-Autumn Festival"),
        (date(2026, 9, 28), "孔子誕辰紀念日/教師節 Teachers' Day"),
        (date(2026, 10, 9), "補假 國慶日 (Sat 10/10)"),
        (
            date(2026, 10, 26),
            "補假 臺灣光復暨金門古寧頭大捷紀念日 (Sun 10/25)",
        ),
        (date(2026, 12, 25), "行憲紀念日 Constitution Day"),
    ])
}

/// Hong Kong 2026 general holidays other than Sundays.
pub fn hong_kong_2026() -> Vec<Exception> {
    holidays(&[
        (date(2026, 1, 1), "The first day of January"),
        (date(2026, 2, 17), "Lunar New Year's Day"),
        (date(2026, 2, 18), "The second day of Lunar New Year"),
        (date(2026, 2, 19), "The third day of Lunar New Year"),
        (date(2026, 4, 3), "Good Friday"),
        (date(2026, 4, 4), "The day following Good Friday"),
        (
            date(2026, 4, 6),
            "The day following Ching Ming Festival (Sun 4/5)",
        ),
        (date(2026, 4, 7), "The day following Easter Monday"),
        (date(2026, 5, 1), "Labour Day"),
        (
            date(2026, 5, 25),
            "The day following the Birthday of the Buddha (Sun 5/24)",
        ),
        (date(2026, 6, 19), "Tuen Ng Festival"),
        (
            date(2026, 7, 1),
            "Hong Kong Special Administrative Region Establishment Day",
        ),
        (
            date(2026, 9, 26),
            "The day following the Chinese Mid-Autumn Festival",
        ),
        (date(2026, 10, 1), "National Day"),
        (
            date(2026, 10, 19),
            "The day following Chung Yeung Festival (Sun 10/18)",
        ),
        (date(2026, 12, 25), "Christmas Day"),
        (date(2026, 12, 26), "The first weekday after Christmas Day"),
    ])
}
