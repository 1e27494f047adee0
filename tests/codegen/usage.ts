// A small typed client over the generated types: `tsc --noEmit` must accept it, so a renamed
// field, a changed nullability or a new enum value in schema.graphql breaks here, loudly.
import type {
  GetJobQuery,
  GetJobQueryVariables,
  JobStatus,
  ListJobsQuery,
  ListJobsQueryVariables,
  MeQuery,
} from "./generated/graphql";

interface GraphQLResponse<TData> {
  data?: TData | null;
  errors?: ReadonlyArray<{ message: string; extensions?: { code?: string } }>;
}

/** The operations in tests/operations/client/*.graphql. */
export type OperationName = "ListJobs" | "GetJob" | "Me";

export class JobqlClient {
  constructor(
    private readonly endpoint: string,
    private readonly apiKey: string,
    // The text of tests/operations/client/*.graphql joined (fragments are shared between the
    // files); an app loads it at build time, e.g. with its bundler's raw-text import.
    private readonly document: string,
  ) {}

  private async request<TData, TVariables extends object>(
    operationName: OperationName,
    variables: TVariables,
  ): Promise<TData> {
    const response = await fetch(this.endpoint, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/graphql-response+json, application/json",
        Authorization: `Bearer ${this.apiKey}`,
      },
      body: JSON.stringify({ query: this.document, operationName, variables }),
    });
    const body = (await response.json()) as GraphQLResponse<TData>;
    if (body.errors?.length || !body.data) {
      throw new Error(body.errors?.map((e) => e.message).join("; ") ?? `HTTP ${response.status}`);
    }
    return body.data;
  }

  listJobs(variables: ListJobsQueryVariables): Promise<ListJobsQuery> {
    return this.request<ListJobsQuery, ListJobsQueryVariables>("ListJobs", variables);
  }

  getJob(variables: GetJobQueryVariables): Promise<GetJobQuery> {
    return this.request<GetJobQuery, GetJobQueryVariables>("GetJob", variables);
  }

  me(): Promise<MeQuery> {
    return this.request<MeQuery, Record<string, never>>("Me", {});
  }
}

const FINISHED: readonly JobStatus[] = ["SUCCESS", "FAILURE", "TIMEOUT", "CANCELLED"];

/** The malicious verdicts of the latest finished file jobs: every step is type-checked. */
export async function maliciousFiles(client: JobqlClient): Promise<string[]> {
  const page = await client.listJobs({
    first: 10,
    filter: { status: { in: [...FINISHED] }, dataType: { eq: "file" } },
    orderBy: [{ field: "CREATED_AT", direction: "DESC" }],
  });
  const verdicts: string[] = [];
  for (const { node } of page.jobs.edges) {
    const { job } = await client.getJob({ id: node.id });
    // `job` and `report` are nullable in the schema: the compiler insists on the checks.
    const taxonomies = job?.report?.summary.taxonomies ?? [];
    const name = job?.attachment?.name ?? node.data ?? node.id;
    for (const t of taxonomies) {
      if (t.level === "MALICIOUS") verdicts.push(`${name}: ${t.namespace}:${t.predicate}=${t.value}`);
    }
  }
  return verdicts;
}

/** Pages through every job matching a TQL filter, following endCursor. */
export async function* allJobIds(client: JobqlClient, tql: string): AsyncGenerator<string> {
  let after: string | null = null;
  do {
    const page: ListJobsQuery = await client.listJobs({ tql, first: 100, ...(after ? { after } : {}) });
    for (const edge of page.jobs.edges) yield edge.node.id;
    after = page.jobs.pageInfo.hasNextPage ? page.jobs.pageInfo.endCursor : null;
  } while (after);
}

// The generated types reject what the schema rejects. Each line below must fail to compile;
// if the schema ever accepts it, tsc reports the unused directive.
export function rejected(client: JobqlClient): void {
  // @ts-expect-error: "FINISHED" is not a JobStatus
  void client.listJobs({ filter: { status: { eq: "FINISHED" } } });
  // @ts-expect-error: `id` is required
  void client.getJob({});
  // @ts-expect-error: `first` is an Int, not a string
  void client.listJobs({ first: "10" });
}
