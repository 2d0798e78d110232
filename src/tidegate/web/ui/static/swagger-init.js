// Starts Swagger UI on /docs. A file of its own: the pages' policy allows no inline script.
// The bundle (defer, loaded first) defines SwaggerUIBundle; the description's URL is on
// the page, so this file needs no server-side values.
"use strict";
window.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null, // the default badge asks validator.swagger.io: never leave the host
  });
});
