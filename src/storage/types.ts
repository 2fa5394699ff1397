/** What a bag reader found in an accepted clip. Times are epoch seconds (fractional). */
export interface BagSummary {
  topics: string[];
  messageCount: number;
  firstMessageTime: number;
  lastMessageTime: number;
}
