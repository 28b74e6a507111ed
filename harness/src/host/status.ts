// Where a stage deep under a workflow sends what is not one of its progress
// lines: a status that changes every second (a kernel build's object count)
// and detail text (make's output). The command installs its printer here
// once; with none installed (a library caller, a test) both go nowhere.
// This spares threading two more callbacks through every workflow between
// the command and the kernel build.

export interface StatusSink {
  /** A line that replaces the previous status: redrawn in place on a terminal, throttled elsewhere. */
  status(text: string, phase?: string): void;
  /** Detail text (raw tool output) shown only under --verbose; undefined when it would go nowhere. */
  detail?: (chunk: string) => void;
}

let sink: StatusSink | null = null;

/** Install `s` (null: none); returns a function putting back the one before. */
export function setStatusSink(s: StatusSink | null): () => void {
  const before = sink;
  sink = s;
  return () => {
    sink = before;
  };
}

export function showStatus(text: string, phase?: string): void {
  sink?.status(text, phase);
}

/** The detail writer, or undefined when nobody wants detail (so callers can skip the work). */
export function detailWriter(): ((chunk: string) => void) | undefined {
  return sink?.detail;
}
