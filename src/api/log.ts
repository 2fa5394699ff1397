/** The few log calls the client makes; a winston logger fits. Messages never hold a token or a query string. */
export interface ApiLog {
  info(message: string, fields?: object): void;
  warn(message: string, fields?: object): void;
  debug(message: string, fields?: object): void;
}

export const SILENT_LOG: ApiLog = { info() {}, warn() {}, debug() {} };
