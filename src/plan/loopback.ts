/** Where plain http:// may point (an API base, a token URL): this machine (the simulator, a tunnel's local end). */
export function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}
