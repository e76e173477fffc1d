/*
 * Strings and numbers for the upload page in the page's language: the page's strings
 * with {placeholders} filled in, and sizes, speeds, durations and percentages through
 * Intl (so "1,5 GB", "2 Min.", "45 %" come out right). Defines TuslogFormat(lang,
 * messages), used by upload-page.js.
 */
(function (global) {
  "use strict";

  global.TuslogFormat = function (lang, messages) {
    function t(key, values) {
      const text = messages["js." + key] || key;
      return text.replace(/\{(\w+)\}/g, function (whole, name) {
        return values && values[name] != null ? String(values[name]) : whole;
      });
    }

    function number(value, options) {
      return new Intl.NumberFormat(lang, options).format(value);
    }

    const UNITS = ["kilobyte", "megabyte", "gigabyte", "terabyte"];

    function bytes(count, perSecond) {
      if (count < 1000) {
        return perSecond ? number(count / 1000, unit("kilobyte-per-second", 1)) : t("bytes", { count: number(count) });
      }
      let value = count / 1000;
      let index = 0;
      while (value >= 1000 && index < UNITS.length - 1) { value /= 1000; index += 1; }
      const name = UNITS[index] + (perSecond ? "-per-second" : "");
      return number(value, unit(name, value < 10 ? 1 : 0));
    }

    function unit(name, digits) {
      return { style: "unit", unit: name, unitDisplay: "short", maximumFractionDigits: digits };
    }

    function duration(seconds) {
      if (seconds < 90) return number(Math.max(1, Math.round(seconds)), unit("second", 0));
      if (seconds < 90 * 60) return number(Math.round(seconds / 60), unit("minute", 0));
      return number(seconds / 3600, unit("hour", 1));
    }

    function percent(part, total) {
      const ratio = total ? Math.floor((part / total) * 1000) / 1000 : 0;
      return number(ratio, { style: "percent", maximumFractionDigits: ratio < 0.1 ? 1 : 0 });
    }

    return { t: t, number: number, bytes: bytes, duration: duration, percent: percent };
  };
})(window);
