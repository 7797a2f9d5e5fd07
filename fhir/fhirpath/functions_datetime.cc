// Date and time functions: now(), today(), timeOfDay() (FHIRPath §5.9, in the local zone of
// the evaluation) and the 2.1 component functions yearOf() ... timeOf().
#include <chrono>

#include "fhir/fhirpath/function_call.h"
#include "fhir/fhirpath/operations.h"

namespace fhir::fhirpath::internal {
namespace {

// EvalContext::now in the local zone: a DateTime with its offset (now()), a Date (today())
// or a Time (timeOfDay()).
Collection Now(FunctionCall& c) {
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(c.context().now.time_since_epoch())
          .count();
  ms += static_cast<int64_t>(c.LocalOffset()) * 60000;
  int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
  int64_t rem = ms - days * 86400000;
  Temporal t;
  CivilFromDays(days, &t.year, &t.month, &t.day);
  t.hour = static_cast<int8_t>(rem / 3600000);
  t.minute = static_cast<int8_t>(rem / 60000 % 60);
  t.second = static_cast<int8_t>(rem / 1000 % 60);
  t.millisecond = static_cast<int16_t>(rem % 1000);
  if (c.fn == kToday) {
    t.kind = TemporalKind::kDate;
    t.precision = kDay;
  } else if (c.fn == kNow) {
    t.kind = TemporalKind::kDateTime;
    t.precision = kMillisecond;
    t.has_tz = true;
    t.tz_minutes = static_cast<int16_t>(c.LocalOffset());
  } else {
    t.kind = TemporalKind::kTime;
    t.precision = kMillisecond;
  }
  return One(Item::Temp(t));
}

// yearOf() ... timeOf(): empty when the value is not that precise (or a Time has no date).
Collection Component(FunctionCall& c) {
  const Item* i = c.SingleInput(c.node.name.c_str());
  if (!i) return {};
  if (i->kind() != ValueKind::kDate && i->kind() != ValueKind::kDateTime &&
      i->kind() != ValueKind::kTime) {
    Fail(c.node.name + "() expects a date or time");
  }
  const Temporal& t = i->temporal();
  bool is_time = t.kind == TemporalKind::kTime;
  auto part = [&](int level, int64_t v) -> Collection {
    if (is_time && level < kHour) return {};
    if (t.precision < level) return {};
    return One(Item::Integer(v));
  };
  switch (c.fn) {
    case kYearOf:
      return part(kYear, t.year);
    case kMonthOf:
      return part(kMonth, t.month);
    case kDayOf:
      return part(kDay, t.day);
    case kHourOf:
      return part(kHour, t.hour);
    case kMinuteOf:
      return part(kMinute, t.minute);
    case kSecondOf:
      return part(kSecond, t.second);
    case kMillisecondOf:
      return part(kMillisecond, t.millisecond);
    case kTimezoneOffsetOf: {
      if (!t.has_tz) return {};
      auto d = Decimal::Div(Decimal::FromInt(t.tz_minutes), Decimal::FromInt(60));
      if (!d) return {};
      return One(Item::Dec(*d));
    }
    case kDateOf: {
      if (is_time) return {};
      auto d = ToTemporal(*i, TemporalKind::kDate);
      if (!d) return {};
      return One(Item::Temp(*d));
    }
    default: {  // kTimeOf
      if (t.kind != TemporalKind::kDateTime || t.precision < kHour) return {};
      Temporal r = t;
      r.kind = TemporalKind::kTime;
      r.has_tz = false;
      return One(Item::Temp(r));
    }
  }
}

}  // namespace

Collection CallDateTimeFunction(FunctionCall& c) {
  switch (c.fn) {
    case kNow:
    case kToday:
    case kTimeOfDay:
      return Now(c);
    case kYearOf:
    case kMonthOf:
    case kDayOf:
    case kHourOf:
    case kMinuteOf:
    case kSecondOf:
    case kMillisecondOf:
    case kTimezoneOffsetOf:
    case kDateOf:
    case kTimeOf:
      return Component(c);
    default:
      NotImplemented(c);
  }
}

}  // namespace fhir::fhirpath::internal
