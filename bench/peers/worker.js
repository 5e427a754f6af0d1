// The hello-JSON worker that workerd serves in the comparison.
export default {
  async fetch(request) {
    return new Response(JSON.stringify({ hello: "world" }), {
      headers: { "Content-Type": "application/json" },
    });
  },
};
