// A Relay fragment that refetches itself: Relay's compiler accepts @refetchable on Job only
// because Job implements Node and Query has node(id:). tests/test_relay.py compiles this file
// against schema.graphql and runs the refetch query it makes against the server.
export const jobStatusFragment = graphql`
  fragment JobStatus_job on Job @refetchable(queryName: "JobStatusRefetchQuery") {
    status
    updatedAt
    analyzer {
      name
    }
  }
`;
