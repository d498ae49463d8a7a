/** Reading flag values: integers and decimals in a range, and the message when a value does not fit. */
import { ErrorCode, UserError } from '../errors.js';

/** "Expected … for --flag but received …", with the value shortened. */
export function valueError(flag: string, expected: string, received: string): UserError {
  const shown =
    received === ''
      ? 'nothing'
      : JSON.stringify(received.length > 40 ? `${received.slice(0, 37)}...` : received);
  return new UserError(ErrorCode.FlagValue, `Expected ${expected} for --${flag} but received ${shown}.`, {
    flag,
    expected,
    received,
  });
}

/** A whole number from `min` to `max`, or the error that names the range. */
export function parseInteger(flag: string, value: string, min: number, max: number): number | UserError {
  const expected = `an integer ${min}–${max}`;
  if (!/^\d{1,12}$/.test(value)) return valueError(flag, expected, value);
  const parsed = Number(value);
  return parsed >= min && parsed <= max ? parsed : valueError(flag, expected, value);
}

/** A decimal number from `min` to `max`, or the error that names the range. */
export function parseDecimal(flag: string, value: string, min: number, max: number): number | UserError {
  const expected = `a number ${min}–${max}`;
  if (!/^(\d{1,6}(\.\d{0,6})?|\.\d{1,6})$/.test(value)) return valueError(flag, expected, value);
  const parsed = Number(value);
  return parsed >= min && parsed <= max ? parsed : valueError(flag, expected, value);
}
