/** A page that could not load: its error, announced. */
export function PageError({ message }: { message: string }) {
  return (
    <div class="page">
      <p class="error" role="alert">
        {message}
      </p>
    </div>
  );
}

/** A page still loading. */
export function PageLoading() {
  return <div class="page" aria-busy="true" />;
}
